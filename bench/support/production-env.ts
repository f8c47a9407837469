/**
 * Imported first by bench/run.ts: graphql-js and Apollo read NODE_ENV when they load, and the
 * benchmark measures production-like settings for both servers alike.
 */
process.env.NODE_ENV ??= 'production';

export {};
