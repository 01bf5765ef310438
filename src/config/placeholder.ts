/**
 * What `flowlog-agent init` leaves where only the operator knows the value (account, region and
 * the ids of each ENI's VPC, vSwitch and instance). Validation refuses any value containing it,
 * so a config with one left never runs under made-up ids.
 */
export const PLACEHOLDER = 'REPLACE-ME';
