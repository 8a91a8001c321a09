export {
  JobGateway,
  type FlowRequest,
  type JobGatewayOptions,
  type JobOptions,
  type JobRequest,
} from './gateway';
export {
  jobDispatcher,
  jobWorker,
  type JobHandler,
  type JobHandlers,
  type JobWorkerOptions,
} from './handlers';
