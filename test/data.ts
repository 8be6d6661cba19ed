// Where tests find the committed test data (test/data/, see its README):
// HOB_TESTDATA overrides it with a directory of the same layout.
import { resolve } from 'node:path';

export const testdataDir = process.env.HOB_TESTDATA ?? resolve(import.meta.dirname, 'data');
