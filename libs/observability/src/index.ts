export { startHealthServer, type HealthCheck, type MetricsSource } from './health';
export { FleetMetrics, metricNames, type ProcessRole } from './metrics';
export { runUntilStopped } from './process';
