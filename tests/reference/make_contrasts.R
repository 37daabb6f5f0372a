# lmer's contrasts= argument on Machines, for tests/test_structures.py. Rscript tests/reference/make_contrasts.R
library(lme4); library(jsonlite)
M <- read.csv("mixjax/datasets/data/Machines.csv"); M$Worker <- factor(M$Worker); M$Machine <- factor(M$Machine)
out <- list()
for (k in c("sum", "helmert", "poly")) {
  m <- lmer(score ~ Machine + (1 | Worker), M, contrasts = list(Machine = paste0("contr.", k)))
  out[[k]] <- list(fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
                   logLik = as.numeric(logLik(m)))
}
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/extra_contrasts.json")
