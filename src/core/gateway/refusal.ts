/**
 * Why a connection is not accepted: answered as an HTTP error to a raw WebSocket upgrade (in the
 * path's envelope) or as a Socket.IO `connect_error` with `data.code`.
 */
export class Refusal {
  constructor(
    readonly status: number,
    readonly message: string,
    /** For the seed 001 envelope: the field at fault (its `stack[].path`), instead of the path. */
    readonly field?: string,
  ) {}
}
