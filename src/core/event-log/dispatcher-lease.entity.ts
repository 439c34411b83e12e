import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * The lease under which one node runs the durable dispatcher. `term`'s default (0) lives in the
 * migration only: declared here, TypeORM would read every inserted row back on SQLite to learn
 * it. Inserts therefore give every column a value.
 */
@Entity({ name: 'dispatcher_lease' })
export class DispatcherLeaseEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) name: string;
  @Column({ type: 'varchar', length: 128 }) holder: string;
  /** Fencing token: goes up by one whenever the holder changes. */
  @Column({ type: 'integer' }) term: number;
  @Column({ type: 'varchar', length: 24 }) acquired_at: string;
  @Column({ type: 'varchar', length: 24 }) expires_at: string;
}
