import { Injectable } from '@nestjs/common';
import type {
  EntityManager,
  EntitySubscriberInterface,
  QueryRunner,
  TransactionCommitEvent,
  TransactionRollbackEvent,
} from 'typeorm';
import { Database } from '../database/database.service';

/**
 * Runs a callback once the transaction a manager belongs to has committed, and drops it on
 * rollback. Waking the worker from inside the dispatcher's transaction would be wasted on
 * Postgres: the worker claims on another connection, which cannot see the rows yet.
 */
@Injectable()
export class AfterCommit implements EntitySubscriberInterface {
  private readonly waiting = new WeakMap<QueryRunner, Set<() => void>>();

  constructor(db: Database) {
    // Transaction events reach every subscriber of the DataSource, whatever its entity.
    (db.dataSource.subscribers as EntitySubscriberInterface[]).push(this);
  }

  run(manager: EntityManager, callback: () => void): void {
    const runner = manager.queryRunner;
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
