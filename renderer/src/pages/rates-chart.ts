import uPlot from 'uplot';
import type { RatesSample } from '../../../src/admin/api-types.js';
import { h } from '../dom.js';

/**
 * Events in and out per second, a uPlot line chart fed by the SSE `rates` samples. uPlot draws
 * on a canvas and styles through CSSOM (no inline <style>), so the strict CSP holds.
 */
export class RatesChart {
  readonly el: HTMLElement;
  private readonly plotHost: HTMLElement;
  private readonly summary: HTMLElement;
  private plot: uPlot | undefined;
  private readonly resize: ResizeObserver;
  private data: [number[], number[], number[]] = [[], [], []];

  constructor(history: readonly RatesSample[]) {
    this.plotHost = h('div', { class: 'chart-host' });
    this.summary = h('p', { class: 'chart-summary', 'aria-live': 'off' });
    this.el = h('div', { class: 'chart' }, this.plotHost, this.summary);
    for (const s of history) this.push(s, false);
    this.resize = new ResizeObserver(() => this.fit());
  }

  /** Call once the element is in the document (uPlot measures its container). */
  mount(): void {
    const width = Math.max(200, this.plotHost.clientWidth);
    this.plot = new uPlot(
      {
        width,
        height: 220,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: true },
          y: { range: (_u, _min, max) => [0, Math.max(5, Math.ceil(max * 1.15))] },
        },
        axes: [
          { stroke: '#4b5563', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#e5e7eb' } },
          {
            stroke: '#4b5563',
            grid: { stroke: '#e5e7eb' },
            ticks: { stroke: '#e5e7eb' },
            size: 48,
            label: 'events/s',
            labelSize: 18,
          },
        ],
        series: [
          {},
          {
            label: 'In (received)',
            stroke: '#2563eb',
            width: 2,
            fill: 'rgba(37,99,235,0.10)',
            points: { show: false },
          },
          { label: 'Out (delivered)', stroke: '#059669', width: 2, points: { show: false } },
        ],
      },
      this.data,
      this.plotHost,
    );
    this.resize.observe(this.plotHost);
  }

  push(sample: RatesSample, redraw = true): void {
    const [xs, ins, outs] = this.data;
    xs.push(sample.at / 1000);
    ins.push(sample.inPerSec);
    outs.push(sample.outPerSec);
    // Five minutes at one sample a second.
    if (xs.length > 300) {
      xs.shift();
      ins.shift();
      outs.shift();
    }
    this.summary.textContent = `Last second: ${fmt(sample.inPerSec)} in, ${fmt(sample.outPerSec)} out per second.`;
    if (redraw) this.plot?.setData(this.data);
  }

  private fit(): void {
    if (!this.plot) return;
    const width = Math.max(200, this.plotHost.clientWidth);
    if (width !== this.plot.width) this.plot.setSize({ width, height: 220 });
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
  }
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
