# Parametric-bootstrap reference for a binomial GLMM that ../shared does not have: lme4's bootMer on cbpp,
# glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), family = binomial) (Laplace), 1000 replicates,
# seed 1; same `bootstrap` layout as the shared inf_*.json files, plus the original fit.
# Run from the repository root: Rscript tests/reference/make_boot.R  (writes tests/reference/extra_boot_cbpp.json)
suppressMessages({library(lme4); library(jsonlite)})
data(cbpp, package = "lme4")
formula <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
m <- glmer(as.formula(formula), data = cbpp, family = binomial)

FUN <- function(x) {
  vc <- as.data.frame(VarCorr(x))
  sd_herd <- vc$sdcor[vc$grp == "herd" & vc$var1 == "(Intercept)" & is.na(vc$var2)]
  c(fixef(x), setNames(sd_herd, "sd_(Intercept)|herd"))
}
call <- 'bootMer(m, FUN, nsim = 1000, seed = 1, type = "parametric")'
t_start <- proc.time()[["elapsed"]]
bb <- bootMer(m, FUN, nsim = 1000, seed = 1, type = "parametric")
seconds <- proc.time()[["elapsed"]] - t_start

ok <- stats::complete.cases(bb$t)
statistics <- lapply(setNames(seq_along(bb$t0), names(bb$t0)), function(j) {
  v <- bb$t[, j]
  q <- quantile(v, c(0.025, 0.975), type = 7, na.rm = TRUE, names = FALSE)
  list(t0 = unname(bb$t0[j]), mean = mean(v, na.rm = TRUE), sd = sd(v, na.rm = TRUE), `2.5%` = q[1], `97.5%` = q[2])
})
count_msgs <- function(msgs) {  # lme4's per-kind message list -> {message: count}; [] when none
  lapply(msgs, function(x) if (length(x)) as.list(x) else list())
}
msgs <- attr(bb, "boot.all.msgs")
fails <- attr(bb, "boot.fail.msgs")

res <- list(
  id = "extra_boot_cbpp", dataset = "cbpp", engine = paste("lme4", packageVersion("lme4")), kind = "bootstrap",
  formula = formula, family = "binomial", link = "logit", method = "Laplace",
  fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
  theta = as.list(getME(m, "theta")), logLik = as.numeric(logLik(m)),
  bootstrap = list(
    call = call, FUN = paste(deparse(FUN), collapse = "\n"), nsim = 1000, seed = 1, n_complete = sum(ok),
    quantile_type = 7, statistics = statistics,
    refit_messages = if (is.null(msgs)) NULL else count_msgs(msgs),
    failures = if (is.null(fails) || length(fails) == 0) NULL else as.list(table(fails)),
    bootmer_seconds_1000 = seconds, bootmer_seconds = seconds),
  r_version = R.version.string)
write_json(res, "tests/reference/extra_boot_cbpp.json", auto_unbox = TRUE, digits = NA, null = "null", na = "null",
           pretty = TRUE)
