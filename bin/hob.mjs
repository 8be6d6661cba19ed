#!/usr/bin/env node
// The hob CLI; the implementation is compiled from src/node/cli.ts.
import '../dist/node/cli.js';
