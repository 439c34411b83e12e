/**
 * NestJS 12 ships as ES modules, and Jest on Node 20 can only load those in its ESM mode
 * (`--experimental-vm-modules`, set by the npm scripts). Test sources are compiled to ESM by
 * ts-jest; the production build stays CommonJS, which Node >= 20.19 runs with require(esm).
 */
const transform = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json', useESM: true }],
};
const common = {
  testEnvironment: 'node',
  transform,
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
};

module.exports = {
  testTimeout: 60000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts', '<rootDir>/test/cluster/**/*.cluster-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
    },
    {
      // `npm run test:reliability`: property-based fuzzing, the authorization matrix and the
      // cluster fault run. Not part of `npm test`; CI runs it when Postgres and Redis are set.
      ...common,
      displayName: 'reliability',
      testMatch: ['<rootDir>/test/reliability/**/*.reliability-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
    },
  ],
};
