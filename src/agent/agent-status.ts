/**
 * The agent's status is the admin API's GET /api/status answer: its shape belongs to the API
 * contract (src/admin/api-types.ts), which the admin layer owns. The agent builds it
 * (readStatus() in status-reader.ts, kept by Agent.status()); the compiler checks that what it
 * builds fits.
 */
export type { AgentStatus, EndpointStatusView, OutboxCountsView } from '../admin/api-types.js';
