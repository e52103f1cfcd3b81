import type { FastifyInstance } from 'fastify';
import { ApiCodes, installErrorHandler } from '../api-errors.js';
import type { ApiError } from '../api-types.js';
import type { AdminApiDeps } from './api-deps.js';
import { registerDeliveryRoutes } from './deliveries.js';
import { registerEndpointRoutes } from './endpoints.js';
import { registerEventRoutes } from './events.js';
import { registerMetricsRoutes } from './metrics.js';
import { registerSettingsRoutes } from './settings.js';
import { registerStreamRoutes } from './stream.js';
import { registerSubscriptionRoutes } from './subscriptions.js';

export type { AdminApiDeps } from './api-deps.js';

/**
 * The admin API (README "Admin API"; contract in ../api-types.ts) as one encapsulated Fastify plugin:
 * its error handler turns every failure into an ApiError. Authentication, Host and Origin
 * checks are the server's onRequest hook, which covers these routes too.
 */
export async function registerApi(app: FastifyInstance, deps: AdminApiDeps): Promise<void> {
  await app.register(
    async (api) => {
      installErrorHandler(api, deps.logger);
      api.setNotFoundHandler((req, reply) => {
        const body: ApiError = {
          error: `no such API route: ${req.method} ${req.url.split('?')[0]}`,
          code: ApiCodes.NOT_FOUND,
        };
        return reply.code(404).send(body);
      });
      registerEndpointRoutes(api, deps);
      registerSubscriptionRoutes(api, deps);
      registerSettingsRoutes(api, deps);
      registerDeliveryRoutes(api, deps);
      registerEventRoutes(api, deps);
      registerStreamRoutes(api, deps);
    },
    { prefix: '/api' },
  );
  await app.register(async (scope) => {
    installErrorHandler(scope, deps.logger);
    registerMetricsRoutes(scope, deps);
  });
}
