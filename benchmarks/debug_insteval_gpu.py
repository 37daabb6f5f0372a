import mixjax, numpy as np, jax, time
d = mixjax.datasets.load("InstEval")
formula = "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)"
fit = mixjax.lmm(formula, d, reml=False)
print(jax.devices()[0].device_kind, fit.optimizer, fit.loglik, flush=True)
Y = fit.simulate(2, seed=1)
many = mixjax.lmm_many(formula, d, Y.T, reml=False)
print(many.status.tolist(), many.loglik.tolist(), flush=True)
obj = fit.objective
from mixjax.objectives.lmm import with_data
d2 = with_data(obj.data, obj.rows, obj.spec, y=Y[0])
print("value_grad at fit theta", obj._replace(data=d2).value_grad(fit.solution.x), flush=True)
print("deviance", obj._replace(data=d2).deviance(fit.solution.x), flush=True)
