export * from './common';
export * from './dto';
export * from './errors';
export * from './events';
export * from './jobs';
export * from './queues';
export * from './hooks';
export * from './report';
