/**
 * The agent's status is the admin API's GET /api/status answer: its shape belongs to the API
 * contract (src/admin/api-types.ts), which the admin layer owns. The agent builds it
 * (Agent.status() in create-agent.ts); the compiler checks that what it builds fits.
 */
export type { AgentStatus, EndpointStatusView, OutboxCountsView } from '../admin/api-types.js';
