"""retrain jobs run by a worker process; model version names that are never reused

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-24 08:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('retrain_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('worker', sa.String(length=200), server_default='', nullable=False))
    job_lock = op.create_table('job_lock',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(job_lock, [{'id': 1}])
    name_sequence = op.create_table('name_sequence',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    # start above every version name given so far ("v12" -> 12)
    names = op.get_bind().execute(sa.text('SELECT name FROM model_version')).scalars().all()
    numbers = [int(name[1:]) for name in names if name[:1] == 'v' and name[1:].isdigit()]
    op.bulk_insert(name_sequence, [{'name': 'model_version', 'value': max(numbers, default=0)}])


def downgrade() -> None:
    op.drop_table('name_sequence')
    op.drop_table('job_lock')
    with op.batch_alter_table('retrain_job', schema=None) as batch_op:
        batch_op.drop_column('worker')
        batch_op.drop_column('heartbeat_at')
