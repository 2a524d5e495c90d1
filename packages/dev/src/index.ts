// Development only: what npm start, the tests and the bench run around the services, and the local
// images the container tests run on. The dev chDB front's executable (chdb-http-main.ts) is started
// as a process, not imported.
export * from './build';
export * from './local-broker';
export * from './local-images';
export * from './project-images';
export * from './service-process';
