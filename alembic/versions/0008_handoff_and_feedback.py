"""handoff tickets; feedback and the asking API key on the query log

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:50:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('handoff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('query_log_id', sa.Integer(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.Column('channel', sa.String(length=50), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=True),
    sa.Column('reply_to_message_id', sa.BigInteger(), nullable=True),
    sa.Column('support_message_id', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('answered_by', sa.String(length=100), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['query_log_id'], ['query_log.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('query_log_id'),
    sa.UniqueConstraint('token')
    )
    with op.batch_alter_table('handoff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handoff_channel'), ['channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_handoff_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_handoff_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_handoff_support_message_id'), ['support_message_id'], unique=False)

    with op.batch_alter_table('query_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('helpful', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('feedback_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('api_key_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_query_log_helpful'), ['helpful'], unique=False)
        batch_op.create_foreign_key('fk_query_log_api_key_id_api_key', 'api_key', ['api_key_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('query_log', schema=None) as batch_op:
        batch_op.drop_constraint('fk_query_log_api_key_id_api_key', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_query_log_helpful'))
        batch_op.drop_column('api_key_id')
        batch_op.drop_column('feedback_at')
        batch_op.drop_column('helpful')

    with op.batch_alter_table('handoff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handoff_support_message_id'))
        batch_op.drop_index(batch_op.f('ix_handoff_status'))
        batch_op.drop_index(batch_op.f('ix_handoff_created_at'))
        batch_op.drop_index(batch_op.f('ix_handoff_channel'))

    op.drop_table('handoff')
