import { Writable } from 'node:stream';

/** Counts what the service logs at error level or worse (a 200 answer may still carry an internal error). */
export class ErrorLineCounter extends Writable {
  errorLines = 0;
  readonly firstErrors: string[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
      const level = (JSON.parse(line) as { level?: number }).level ?? 0;
      if (level >= 50) {
        this.errorLines += 1;
        if (this.firstErrors.length < 3) this.firstErrors.push(line.slice(0, 300));
      }
    }
    done();
  }
}
