/**
 * One uPlot time series chart, fed a new window of samples every second. The chart is
 * built once per set of series and then only given new data (`setData`), which is what
 * uPlot is fast at; its width follows the container.
 */
import { useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  /** Values aligned with `times`; null for a gap. */
  values: readonly (number | null)[];
}

export interface LiveChartProps {
  title: string;
  /** Seconds since the epoch. */
  times: readonly number[];
  series: readonly ChartSeries[];
  /** Formats values on the axis and in the legend. */
  format?: (v: number) => string;
  height?: number;
  /** Shown over the chart when there is nothing to draw yet. */
  emptyText?: string;
  /** Shown over the chart when every value is 0 (for error charts). */
  zeroText?: string;
  /** Counts: the y axis only ticks whole numbers. */
  integer?: boolean;
}

/** Seconds of the x axis at least: a chart with a few samples still reads as a timeline. */
const MIN_SPAN = 60;
const INT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000];

/** Series colours that read on light and dark backgrounds. */
export const PALETTE = ['#2f7ff5', '#e8743b', '#19a979', '#d64b9b', '#945ecf', '#e0b400', '#13a4b4', '#c94a4a'];

const defaultFormat = (v: number) => (Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(1)}k` : Number.isInteger(v) ? String(v) : v.toFixed(1));

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export function LiveChart({ title, times, series, format = defaultFormat, height = 160, emptyText = 'Waiting for the first stats…', zeroText, integer = false }: LiveChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const labels = series.map((s) => s.label).join('\u0000');
  const formatRef = useRef(format);
  formatRef.current = format;

  const data = useMemo(() => [times as number[], ...series.map((s) => s.values as (number | null)[])] as uPlot.AlignedData, [times, series]);
  const dataRef = useRef(data);
  dataRef.current = data;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const axis = cssVar('--muted', '#6b7280');
    const grid = cssVar('--grid', 'rgba(127,127,127,0.15)');
    const fmt = (v: number) => formatRef.current(v);
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: true, range: (_u, min, max) => [Math.min(min, max - MIN_SPAN), max] },
        y: { range: (_u, min, max) => [Math.min(0, min), Math.max(integer ? 2 : 1, integer ? Math.ceil(max * 1.15) : max * 1.15)] },
      },
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 30, font: '11px system-ui, sans-serif' },
        {
          stroke: axis,
          grid: { stroke: grid, width: 1 },
          ticks: { show: false },
          size: 44,
          font: '11px system-ui, sans-serif',
          values: (_u, vals) => vals.map(fmt),
          ...(integer ? { incrs: INT_INCRS } : {}),
        },
      ],
      series: [
        {},
        ...labels.split('\u0000').map((label, i) => ({
          label,
          stroke: PALETTE[i % PALETTE.length]!,
          width: 2,
          fill: series.length === 1 ? `${PALETTE[i % PALETTE.length]}22` : undefined,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : fmt(v)),
        })),
      ],
    };
    const u = new uPlot(opts, dataRef.current, el);
    chart.current = u;
    const resize = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      chart.current = null;
    };
    // Rebuilt only when the set of series changes; data flows through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [labels, height, integer]);

  useEffect(() => {
    chart.current?.setData(data);
  }, [data]);

  const latest = series.map((s) => s.values[s.values.length - 1] ?? null);
  const empty = times.length === 0;
  const allZero = !empty && series.every((s) => s.values.every((v) => !v));
  const summary = empty ? emptyText : series.map((s, i) => `${s.label}: ${latest[i] === null ? 'no data' : format(latest[i]!)}`).join(', ');

  return (
    <figure className="chart" aria-label={`${title}. Latest: ${summary}`}>
      <figcaption className="chart-head">
        <span className="chart-title">{title}</span>
        <ul className="chart-legend">
          {series.map((s, i) => (
            <li key={s.label}>
              <span className="swatch" style={{ background: PALETTE[i % PALETTE.length] }} aria-hidden="true" />
              <span className="legend-label">{s.label}</span> <b>{latest[i] === null || latest[i] === undefined ? '—' : format(latest[i]!)}</b>
            </li>
          ))}
        </ul>
      </figcaption>
      <div className="chart-canvas" style={{ minHeight: height }}>
        <div ref={box} aria-hidden="true" />
        {(empty || (allZero && zeroText)) && <div className="chart-overlay">{empty ? emptyText : zeroText}</div>}
      </div>
    </figure>
  );
}
