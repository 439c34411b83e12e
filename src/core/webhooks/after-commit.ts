import { Injectable } from '@nestjs/common';
import { Database, type Tx } from '../database/database.service';
import { TransactionHooks } from '../database/transaction-hooks';

/**
 * Runs a callback once the transaction it was scheduled in has committed, and drops it on
 * rollback. Waking the worker from inside the dispatcher's transaction would be wasted on
 * Postgres: the worker claims on another connection, which cannot see the rows yet.
 */
@Injectable()
export class AfterCommit {
  private readonly hooks: TransactionHooks;

  constructor(db: Database) {
    this.hooks = new TransactionHooks(db.dataSource);
  }

  run(tx: Tx, callback: () => void): void {
    this.hooks.afterCommit(tx, callback);
  }
}
