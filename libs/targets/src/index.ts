export * from './target-storage';
export * from './plan-repository';
