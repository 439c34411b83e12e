import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * Column defaults live in the migrations only: declared here, TypeORM would read every inserted
 * row back on SQLite to learn them. Inserts therefore give every column a value.
 */
@Entity({ name: 'approval_notifications' })
export class ApprovalNotificationEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) notification_id: string;
  @Column({ type: 'varchar', length: 128 }) organisation_id: string;
  @Column({ type: 'varchar', length: 128 }) claim_id: string;
  @Column({ type: 'varchar', length: 128 }) recipient_user_id: string;
  @Column({ type: 'varchar', length: 16 }) new_status: string;
  @Column({ type: 'text', nullable: true }) comment: string | null;
  /** A decimal kept as text, exactly as it was sent (no float rounding in storage). */
  @Column({ type: 'varchar', length: 32, nullable: true }) amount: string | null;
  @Column({ type: 'varchar', length: 3, nullable: true }) currency: string | null;
  /** The built NotificationPayload as JSON text. */
  @Column({ type: 'text' }) payload: string;
  @Column({ type: 'boolean' }) read: boolean;
  @Column({ type: 'varchar', length: 24 }) sent_at: string;
  @Column({ type: 'varchar', length: 24 }) updated_at: string;
}
