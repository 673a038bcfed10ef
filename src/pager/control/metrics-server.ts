import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatPrometheus } from './prometheus.js';

/** The content type of Prometheus' text format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The opt-in metrics endpoint (`--metrics-port`): GET /metrics on 127.0.0.1 only (the counters say
 * what a guest does; exposing them beyond the host is the operator's choice, through a proxy).
 * Each scrape asks `stats` anew; a failing one answers 503 with the reason.
 */
export class MetricsServer {
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static listen(
    port: number,
    stats: () => Promise<Record<string, number>>,
    labels: Record<string, string> = {},
  ): Promise<MetricsServer> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' || path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
        return;
      }
      stats().then(
        (s) =>
          res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(formatPrometheus(s, labels)),
        (e: unknown) =>
          res
            .writeHead(503, { 'content-type': 'text/plain' })
            .end(`stats unavailable: ${(e as Error).message}\n`),
      );
    });
    return new Promise((res, rej) => {
      server.once('error', rej);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', rej);
        res(new MetricsServer(server, (server.address() as AddressInfo).port));
      });
    });
  }

  close(): Promise<void> {
    return new Promise((res) => this.server.close(() => res()));
  }
}
