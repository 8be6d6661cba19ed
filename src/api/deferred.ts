// What the page's entry (index.ts) loads on first use, through one dynamic
// import that a bundler splits into its own chunk: the fit check (the header
// reader, the estimate, the model store it looks in) and the Hub's listing.
// A page pays for them when it creates an engine or asks, not when it
// imports Hob.
export { checkFit } from './check-fit.js';
export { decideFit, withEstimate } from './fit-settings.js';
export { hubProjectorUrl, listHubFiles, resolveHubModel } from '../store/hub.js';
