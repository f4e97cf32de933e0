// Replaced by the bundler with package.json's version; the fallback serves `tsx` runs in tests.
declare const CRONVAULT_VERSION: string | undefined;
export const VERSION: string = typeof CRONVAULT_VERSION === 'string' ? CRONVAULT_VERSION : '0.0.0-dev';
