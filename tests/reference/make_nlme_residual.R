# nlme's Lindstrom-Bates fits with residual structures (correlation= and weights=) that
# tests/test_nlme_residual.py compares mixjax.nlme with. Run from the repository root:
#   Rscript tests/reference/make_nlme_residual.R
# Writes tests/reference/extra_nlme_residual.json, one entry per fit (the bundled csv files, groups as factors in
# order of appearance, explicit start values so that both programs start from the same point):
# * soybean_varpower: Pinheiro & Bates' fm2Soy.nlme with pdDiag: weights = varPower() (of the fitted values), ML;
# * indometh_ar1: Indometh, SSbiexp, pdDiag(A1 + lrc1 + A2), correlation = corAR1(), ML (start: getInitial);
# * loblolly_ar1: Loblolly, SSasymp, Asym ~ 1 | Seed, correlation = corAR1(), ML;
# * loblolly_varexp_reml: Loblolly, weights = varExp(form = ~ age), REML;
# * soybean_varident_reml: Soybean, pdDiag(Asym + xmid), weights = varIdent(form = ~ 1 | Variety), REML;
# * nested_ar1: the simulated trees within sites of make_nlme_extra.R (tests/reference/data/nested_growth.csv),
#   Asym ~ 1 | Site/Tree, correlation = corAR1() (its default group: Tree within Site), ML.
# Each records logLik, numIter, the fixed effects and their SEs (sqrt(diag(vcov))), the random-effect SDs (and
# correlations; sd_levels: per grouping level), sigma, and the structures' parameters, natural and unconstrained
# (coef(..., unconstrained =)).
suppressMessages({library(nlme); library(jsonlite)})
rd <- function(name, group) {
  d <- read.csv(file.path("mixjax/datasets/data", paste0(name, ".csv")))
  d[[group]] <- factor(d[[group]], levels = unique(d[[group]]))
  d
}
struct <- function(s) {
  if (is.null(s)) return(NULL)
  natural <- coef(s, unconstrained = FALSE)
  list(class = class(s)[1], natural = as.list(natural),
       unconstrained = as.list(setNames(as.numeric(coef(s, unconstrained = TRUE)), names(natural))))
}
summ <- function(m, dataset, model, start) {
  vc <- VarCorr(m)
  re <- as.matrix(m$modelStruct$reStruct[[1]]) * m$sigma^2
  corr <- cov2cor(re)
  list(dataset = dataset, model = model, start = as.list(start), method = m$method, nobs = m$dims$N,
       logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"), numIter = m$numIter,
       fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(vcov(m)))), sigma = m$sigma,
       sd = as.list(sqrt(diag(re))), corr = corr[lower.tri(corr)],
       sd_levels = lapply(as.list(m$modelStruct$reStruct), function(r) as.list(sqrt(diag(as.matrix(r))) * m$sigma)),
       correlation = struct(m$modelStruct$corStruct), variance = struct(m$modelStruct$varStruct))
}
Soy <- rd("Soybean", "Plot")
Ind <- rd("Indometh", "Subject")
Lob <- rd("Loblolly", "Seed")
soy_start <- c(Asym = 17, xmid = 52, scal = 7.5)
lob_start <- c(Asym = 103, R0 = -8.5, lrc = -3.3)
ind_start <- getInitial(conc ~ SSbiexp(time, A1, lrc1, A2, lrc2), data = Ind)

out <- list(id = "extra_nlme_residual", engine = paste("nlme", packageVersion("nlme")))
out$soybean_varpower <- summ(
  nlme(weight ~ SSlogis(Time, Asym, xmid, scal), data = Soy, fixed = Asym + xmid + scal ~ 1,
       random = pdDiag(Asym + xmid + scal ~ 1), groups = ~ Plot, weights = varPower(), start = soy_start),
  "Soybean", "weight ~ SSlogis(Time, Asym, xmid, scal), pdDiag(Asym + xmid + scal ~ 1) | Plot, varPower()",
  soy_start)
out$indometh_ar1 <- summ(
  nlme(conc ~ SSbiexp(time, A1, lrc1, A2, lrc2), data = Ind, fixed = A1 + lrc1 + A2 + lrc2 ~ 1,
       random = pdDiag(A1 + lrc1 + A2 ~ 1), groups = ~ Subject, correlation = corAR1(), start = ind_start),
  "Indometh", "conc ~ SSbiexp(time, A1, lrc1, A2, lrc2), pdDiag(A1 + lrc1 + A2 ~ 1) | Subject, corAR1()",
  ind_start)
out$loblolly_ar1 <- summ(
  nlme(height ~ SSasymp(age, Asym, R0, lrc), data = Lob, fixed = Asym + R0 + lrc ~ 1, random = Asym ~ 1 | Seed,
       correlation = corAR1(), start = lob_start),
  "Loblolly", "height ~ SSasymp(age, Asym, R0, lrc), Asym ~ 1 | Seed, corAR1()", lob_start)
out$loblolly_varexp_reml <- summ(
  nlme(height ~ SSasymp(age, Asym, R0, lrc), data = Lob, fixed = Asym + R0 + lrc ~ 1, random = Asym ~ 1 | Seed,
       weights = varExp(form = ~ age), method = "REML", start = lob_start),
  "Loblolly", "height ~ SSasymp(age, Asym, R0, lrc), Asym ~ 1 | Seed, varExp(form = ~ age), REML", lob_start)
out$soybean_varident_reml <- summ(
  nlme(weight ~ SSlogis(Time, Asym, xmid, scal), data = Soy, fixed = Asym + xmid + scal ~ 1,
       random = pdDiag(Asym + xmid ~ 1), groups = ~ Plot, weights = varIdent(form = ~ 1 | Variety),
       method = "REML", start = soy_start),
  "Soybean", "weight ~ SSlogis(Time, Asym, xmid, scal), pdDiag(Asym + xmid ~ 1) | Plot, varIdent(~ 1 | Variety), REML",
  soy_start)
nested <- read.csv("tests/reference/data/nested_growth.csv")
nested$Site <- factor(nested$Site); nested$Tree <- factor(nested$Tree)
nested_start <- c(Asym = 190, xmid = 720, scal = 350)
out$nested_ar1 <- summ(
  nlme(circumference ~ SSlogis(age, Asym, xmid, scal), data = nested, fixed = Asym + xmid + scal ~ 1,
       random = Asym ~ 1 | Site/Tree, correlation = corAR1(), start = nested_start),
  "nested_growth", "circumference ~ SSlogis(age, Asym, xmid, scal), Asym ~ 1 | Site/Tree, corAR1()", nested_start)
write_json(out, "tests/reference/extra_nlme_residual.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
