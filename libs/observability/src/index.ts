export { startHealthServer, type HealthCheck } from './health';
