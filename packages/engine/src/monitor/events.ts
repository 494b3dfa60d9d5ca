// Checks shared by the monitors: one bad event is reported with its position, not written.
import { show } from '../lr/suggest.js';
import type { MonitorEvent } from './types.js';

export function checkEvents(monitor: string, events: readonly MonitorEvent[]): void {
  if (!Array.isArray(events)) throw new TypeError(`${monitor}.writeEvents: events must be an array of [name, value, step], got ${show(events)}`);
  events.forEach((e, i) => {
    if (!Array.isArray(e) || e.length !== 3) throw new TypeError(`${monitor}.writeEvents: events[${i}] must be [name, value, step], got ${show(e)}`);
    const [name, value, step] = e;
    if (typeof name !== 'string' || name.length === 0) throw new TypeError(`${monitor}.writeEvents: events[${i}] name must be a non-empty string, got ${show(name)}`);
    if (typeof value !== 'number') throw new TypeError(`${monitor}.writeEvents: events[${i}] ('${name}') value must be a number, got ${show(value)}`);
    if (!Number.isSafeInteger(step) || step < 0) {
      throw new RangeError(`${monitor}.writeEvents: events[${i}] ('${name}') step must be a non-negative integer, got ${show(step)}`);
    }
  });
}

export function checkOpen(monitor: string, closed: boolean): void {
  if (closed) throw new Error(`${monitor}: the monitor is closed; create a new one to write more events`);
}
