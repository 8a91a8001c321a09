export { redisTransport } from './transport';
export { EventPublisher, type EventLogger } from './publisher';
