export * from './config';
export { Secret } from './secret';
export * from './outbound';
export * from './outbound-request';
