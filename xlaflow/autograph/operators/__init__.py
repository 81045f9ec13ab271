"""The run-time operators converted code calls, as `ag__.<name>`."""

from xlaflow.autograph.operators.asserts import assert_stmt as assert_stmt
from xlaflow.autograph.operators.calls import converted_call as converted_call
from xlaflow.autograph.operators.calls import merged_keywords as merged_keywords
from xlaflow.autograph.operators.conditionals import if_exp as if_exp
from xlaflow.autograph.operators.contexts import watch as watch
from xlaflow.autograph.operators.contexts import with_stmt as with_stmt
from xlaflow.autograph.operators.conditionals import if_stmt as if_stmt
from xlaflow.autograph.operators.conditionals import select_return as select_return
from xlaflow.autograph.operators.lists import list_append as list_append
from xlaflow.autograph.operators.py_builtins import in_ as in_
from xlaflow.autograph.operators.logical import and_ as and_
from xlaflow.autograph.operators.logical import compare_chain as compare_chain
from xlaflow.autograph.operators.logical import comprehension_test as comprehension_test
from xlaflow.autograph.operators.logical import not_ as not_
from xlaflow.autograph.operators.logical import or_ as or_
from xlaflow.autograph.operators.logical import python_test as python_test
from xlaflow.autograph.operators.logical import scalar_test as scalar_test
from xlaflow.autograph.operators.loops import for_stmt as for_stmt
from xlaflow.autograph.operators.loops import while_stmt as while_stmt
from xlaflow.autograph.operators.state import global_aug as global_aug
from xlaflow.autograph.operators.state import global_value as global_value
from xlaflow.autograph.operators.variables import Undefined as Undefined
from xlaflow.autograph.operators.variables import UndefinedReturnValue as UndefinedReturnValue
from xlaflow.autograph.operators.variables import defined as defined
from xlaflow.autograph.operators.variables import ldu as ldu
from xlaflow.autograph.operators.variables import return_value as return_value
