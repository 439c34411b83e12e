import type {
  DataSource,
  EntitySubscriberInterface,
  QueryRunner,
  TransactionCommitEvent,
  TransactionRollbackEvent,
} from 'typeorm';
import type { Tx } from './database.service';

/**
 * Runs callbacks once the transaction a `Tx` belongs to has committed, and drops them on
 * rollback. Outside a transaction a callback runs at once. It listens to the DataSource's
 * transaction events, which reach every subscriber whatever its entity.
 */
export class TransactionHooks implements EntitySubscriberInterface {
  private readonly waiting = new WeakMap<QueryRunner, Set<() => void>>();

  constructor(dataSource: DataSource) {
    (dataSource.subscribers as EntitySubscriberInterface[]).push(this);
  }

  afterCommit(tx: Tx, callback: () => void): void {
    const runner = tx.queryRunner;
    if (!runner?.isTransactionActive) return callback();
    const callbacks = this.waiting.get(runner) ?? new Set();
    callbacks.add(callback);
    this.waiting.set(runner, callbacks);
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    // A released savepoint also reports a commit; only the outermost one makes rows visible.
    if (event.queryRunner.isTransactionActive) return;
    const callbacks = this.waiting.get(event.queryRunner);
    this.waiting.delete(event.queryRunner);
    callbacks?.forEach((callback) => callback());
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    if (!event.queryRunner.isTransactionActive) this.waiting.delete(event.queryRunner);
  }
}
