// Development only: what npm start, the tests and the bench run around the services. The dev chDB
// front's executable (chdb-http-main.ts) is started as a process, not imported.
export * from './local-broker';
export * from './service-process';
