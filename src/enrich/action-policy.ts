import type { AgentConfig, EniConfig } from '../config/types';
import { PolicyEvaluator } from './policy/policy-evaluator';

/**
 * Connections remembered per generation by the agent-side rule evaluation (two generations are
 * kept: about 100 bytes per connection, 13 MiB in all). When more connections are live at once,
 * the oldest generation is forgotten early and its replies are judged by their own rules.
 */
export const POLICY_CONNECTION_CAPACITY = 65536;

/**
 * The evaluator deciding ACCEPT/REJECT from the configured security groups and network ACLs,
 * or null when no ENI of `enis` has any (every packet not from NFLOG is then ACCEPT).
 * `enis` must be the pipeline's ENI list: indexes are shared with the inventory.
 */
export function actionPolicyFor(config: AgentConfig, enis: readonly EniConfig[] = config.enis): PolicyEvaluator | null {
  const evaluator = new PolicyEvaluator(enis, config.networkAcls ?? [], {
    connectionCapacity: POLICY_CONNECTION_CAPACITY,
  });
  return evaluator.active ? evaluator : null;
}
