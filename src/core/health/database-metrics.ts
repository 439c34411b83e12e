import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { Database } from '../database/database.service';
import { MetricsService } from './metrics.service';

/**
 * `herald_db_statements_total{statement}`: every statement this node sent to the database, by
 * kind (`select`, `insert`, `update`, `delete`, `begin`, `commit`, `rollback`, `other`). Divided
 * by events appended or webhooks delivered, it is the round trips each costs, a figure that does
 * not move with the load on the machine.
 */
@Injectable()
export class DatabaseMetrics {
  constructor(metrics: MetricsService, db: Database) {
    new Counter({
      name: 'herald_db_statements_total',
      help: 'Statements sent to the database by this node, by kind (transaction control included)',
      labelNames: ['statement'],
      registers: [metrics.registry],
      collect() {
        this.reset();
        for (const [statement, count] of db.statementCounts()) this.inc({ statement }, count);
      },
    });
  }
}
