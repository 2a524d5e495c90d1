// Tenancy: who may write to which datasets. The key file's format and the gateway's key store,
// the web origins a key may be used from, and the key administration behind scripts/keys.ts.
export * from './key-store';
export * from './origins';
export * from './files';
export * from './key-admin';
