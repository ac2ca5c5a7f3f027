"""deepquery: join ordering on the Join Order Benchmark: query graphs, cardinalities, cost
models, exact and classic optimizers (the learned DQ agent builds on :class:`JoinState`)."""
from .cardinality import Cardinality as Cardinality
from .cardinality import EstimatedCardinality as EstimatedCardinality
from .cardinality import TrueCardinality as TrueCardinality
from .cost_models import CM1 as CM1
from .cost_models import CM2 as CM2
from .cost_models import CostModel as CostModel
from .cost_models import Cout as Cout
from .cost_models import get_cost_model as get_cost_model
from .database import TableStats as TableStats
from .database import connect as connect
from .execute import run_plan as run_plan
from .join_state import JoinState as JoinState
from .join_tree import JoinTree as JoinTree
from .optimizers import OPTIMIZERS as OPTIMIZERS
from .optimizers import get_optimizer as get_optimizer
from .query_graph import QueryError as QueryError
from .query_graph import QueryGraph as QueryGraph
from .query_graph import parse_query as parse_query
from .rewrite import plan_sql as plan_sql
