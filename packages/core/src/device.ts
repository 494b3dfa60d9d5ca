/** Where a tensor's storage lives. Only `cpu` is backed today; `cuda:N` parses so APIs need not change. */
export class Device {
  private constructor(
    readonly type: 'cpu' | 'cuda',
    readonly index: number,
  ) {}

  static readonly cpu = new Device('cpu', 0);

  static parse(spec: string | Device): Device {
    if (spec instanceof Device) return spec;
    if (spec === 'cpu') return Device.cpu;
    const m = /^cuda(?::(\d+))?$/.exec(spec);
    if (m) return new Device('cuda', m[1] === undefined ? 0 : Number(m[1]));
    throw new TypeError(`unknown device ${JSON.stringify(spec)}; expected 'cpu' or 'cuda:N'`);
  }

  toString(): string {
    return this.type === 'cpu' ? 'cpu' : `cuda:${this.index}`;
  }

  equals(other: Device): boolean {
    return this.type === other.type && this.index === other.index;
  }
}

export type DeviceLike = Device | 'cpu' | `cuda:${number}` | 'cuda';
