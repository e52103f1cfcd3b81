#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm run build` or `prepack`).
import '../dist/cli/main.js';
