import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-transformers';

/**
 * How far a consumer of the log has got: the dispatcher's last processed seq, or (name
 * `retention`) the highest seq retention has removed.
 */
@Entity({ name: 'consumer_checkpoints' })
export class ConsumerCheckpointEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) name: string;
  @Column({ type: 'bigint', transformer: bigintAsNumber }) last_seq: number;
  @Column({ type: 'varchar', length: 24 }) updated_at: string;
}
