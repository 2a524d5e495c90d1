// Tenancy: who may write to which datasets. The key file's format and the gateway's key store,
// the web origins a key may be used from, the key administration and its command-line tool
// (`npm run keys`, or keys-main.js where only the compiled package is).
export * from './key-store';
export * from './origins';
export * from './files';
export * from './key-admin';
export * from './command-line';
export * from './keys-cli';
