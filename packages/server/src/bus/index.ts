export {
  type BusLogger,
  type BusStats,
  type CreateBusOptions,
  createBus,
  type LocalBus,
  type LocalTopicInfo,
  type PublishManyOptions,
} from "./bus.js";
export { type CompiledFilter, subjectOf } from "./filter.js";
export { type BusLimits, DEFAULT_BUS_LIMITS, resolveBusLimits } from "./limits.js";
export { type Budget, compileGuardedRegex, type GuardedRegex, NO_BUDGET, RegexBudget } from "./regex-guard.js";
export * from "./types.js";
