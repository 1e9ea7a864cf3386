/**
 * Debian's Chromium for every test and bench that drives a browser: vitest's browser project,
 * and the Playwright end-to-end tests (never a browser a tool downloads by itself).
 */
export const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** Chromium flags that give WebGPU (through SwiftShader where there is no GPU) in headless runs. */
export const chromiumArgs = [
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--no-sandbox',
  '--headless=new',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
