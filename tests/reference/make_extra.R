# Extra lme4 references that ../shared does not have: weighted fits.
# Run from the repository root: Rscript tests/reference/make_extra.R  (writes tests/reference/extra_*.json)
suppressMessages({library(lme4); library(jsonlite)})
sleep <- read.csv("mixjax/datasets/data/sleepstudy.csv")
sleep$Subject <- factor(sleep$Subject)
sleep$w <- 1 + sleep$Days %% 3
out <- function(id, m, formula, dataset, weights) {
  vc <- as.data.frame(VarCorr(m))
  res <- list(id = id, dataset = dataset, formula = formula, weights = weights,
              method = if (isREML(m)) "REML" else "ML",
              fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
              varcorr = vc, sigma = sigma(m), theta = as.list(getME(m, "theta")),
              logLik = as.numeric(logLik(m)), deviance_or_REMLcrit = if (isREML(m)) REMLcrit(m) else deviance(m),
              engine = paste("lme4", packageVersion("lme4")))
  write_json(res, file.path("tests/reference", paste0(id, ".json")), auto_unbox = TRUE, digits = NA, null = "null", na = "null")
}
f <- "Reaction ~ Days + (Days | Subject)"
out("extra_sleepstudy_weighted_reml", lmer(as.formula(f), sleep, weights = w, REML = TRUE), f, "sleepstudy", "1 + Days %% 3")
out("extra_sleepstudy_weighted_ml", lmer(as.formula(f), sleep, weights = w, REML = FALSE), f, "sleepstudy", "1 + Days %% 3")

# A crossed model whose second term has two columns (exercises the non-diagonal scaling of the dense block):
# the first 5,000 rows of InstEval.
ie <- read.csv("mixjax/datasets/data/InstEval.csv")[1:5000, ]
for (col in c("s", "d", "service", "dept")) ie[[col]] <- factor(ie[[col]])
f <- "y ~ service + (1 | s) + (1 + service | dept)"
out("extra_insteval5000_slope_reml", lmer(as.formula(f), ie, REML = TRUE), f, "InstEval[1:5000]", NULL)
