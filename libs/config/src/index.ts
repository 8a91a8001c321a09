export * from './config';
export { Secret } from './secret';
