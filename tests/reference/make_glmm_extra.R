# Extra GLMM references that ../shared does not have (lme4, glmmTMB, ordinal).
# Run from the repository root: Rscript tests/reference/make_glmm_extra.R  (writes tests/reference/extra_glmm_*.json)
suppressMessages({library(lme4); library(glmmTMB); library(ordinal); library(jsonlite)})
columns <- fromJSON("mixjax/datasets/data/columns.json")
dat <- function(name, factors) {  # factors with R's level order, as the package's columns.json gives it
  d <- read.csv(file.path("mixjax/datasets/data", paste0(name, ".csv")))
  for (f in factors) d[[f]] <- factor(d[[f]], levels = columns[[name]]$levels[[f]])
  d
}
write_ref <- function(id, res) {
  write_json(res, file.path("tests/reference", paste0(id, ".json")), auto_unbox = TRUE, digits = NA, null = "null",
             na = "null")
}
lme4_ref <- function(id, m, formula, dataset, family, link) {
  vc <- as.data.frame(VarCorr(m))
  write_ref(id, list(id = id, dataset = dataset, formula = formula, family = family, link = link,
    method = if (m@devcomp$dims[["nAGQ"]] > 1) paste0("AGQ", m@devcomp$dims[["nAGQ"]]) else "Laplace",
    fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))), varcorr = vc,
    theta = as.list(getME(m, "theta")), logLik = as.numeric(logLik(m)),
    convergence_messages = m@optinfo$conv$lme4$messages, engine = paste("lme4", packageVersion("lme4"))))
}
tmb_ref <- function(id, m, formula, dataset, family, link) {
  sds <- lapply(VarCorr(m)$cond, function(v) as.list(attr(v, "stddev")))
  corr <- lapply(VarCorr(m)$cond, function(v) attr(v, "correlation"))
  write_ref(id, list(id = id, dataset = dataset, formula = formula, family = family, link = link, method = "Laplace",
    fixef = as.list(fixef(m)$cond), fixef_se = as.list(sqrt(diag(vcov(m)$cond))), sd = sds, corr = corr,
    dispersion = sigma(m), logLik = as.numeric(logLik(m)), engine = paste("glmmTMB", packageVersion("glmmTMB"))))
}

grouse <- dat("grouseticks", c("INDEX", "BROOD", "YEAR", "LOCATION"))
f <- "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)"
tmb_ref("extra_glmm_grouseticks_tmb", glmmTMB(as.formula(f), grouse, family = poisson), f, "grouseticks", "poisson", "log")

contra <- dat("Contraception", c("woman", "district", "use", "livch", "urban"))
f <- "use ~ age + I(age^2) + urban + livch + (1 + urban | district)"
lme4_ref("extra_glmm_contraception_slope", glmer(as.formula(f), contra, binomial), f, "Contraception", "binomial", "logit")

cbpp <- dat("cbpp", c("herd", "period"))
f <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
# glmmTMB, not lme4, for a non-canonical link: lme4's Laplace uses the expected information in log|H|, glmmTMB and
# mixjax the observed one (the Laplace approximation proper); the two differ by 0.04 in log-likelihood here.
tmb_ref("extra_glmm_cbpp_probit", glmmTMB(as.formula(f), cbpp, binomial(link = "probit")), f, "cbpp", "binomial",
        "probit")
f <- "incidence ~ period + offset(log(size)) + (1 | herd)"
lme4_ref("extra_glmm_cbpp_poisson_offset", glmer(as.formula(f), cbpp, poisson), f, "cbpp", "poisson", "log")

sal <- dat("Salamanders", c("site", "mined", "spp"))
f <- "count ~ spp + mined + (1 | site)"
tmb_ref("extra_glmm_salamanders_nbinom1", glmmTMB(as.formula(f), sal, family = nbinom1), f, "Salamanders", "nbinom1", "log")

sleep <- dat("sleepstudy", c("Subject"))
f <- "Reaction ~ Days + (1 | Subject)"
tmb_ref("extra_glmm_sleepstudy_gamma", glmmTMB(as.formula(f), sleep, family = Gamma(link = "log")), f, "sleepstudy",
        "gamma", "log")

wine <- dat("wine", c("rating", "temp", "contact", "bottle", "judge"))
wine$rating <- factor(wine$rating, ordered = TRUE)
m <- clmm(rating ~ temp + contact + (1 | judge), data = wine, link = "probit", nAGQ = 10)
write_ref("extra_clmm_wine_probit", list(id = "extra_clmm_wine_probit", dataset = "wine",
  formula = "rating ~ temp + contact + (1 | judge)", family = "ordinal", link = "probit", method = "AGQ10",
  beta = as.list(m$beta), thresholds = as.list(m$alpha), coef_se = as.list(sqrt(diag(vcov(m)))),
  judge_sd = as.numeric(attr(VarCorr(m)$judge, "stddev")), logLik = as.numeric(logLik(m)),
  engine = paste("ordinal", packageVersion("ordinal"))))
