# Usage: Rscript structures.R CSV CASE REPEATS BUDGET_S
# Times nlme::lme with residual structures (correlation= and weights=) for benchmarks/structures.py. CASE:
#   ovary_ar1           lme(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), random = ~ 1 | Mare, correlation = corAR1())
#   orthodont_varident  lme(distance ~ age + Sex, random = ~ 1 | Subject, weights = varIdent(form = ~ 1 | Sex))
#   bodyweight_car1     lme(weight ~ Time * Diet, random = ~ Time | Rat, correlation = corCAR1(form = ~ Time | Rat))
#   sim_ar1*            lme(y ~ x, random = ~ 1 | g, correlation = corAR1(form = ~ t | g))
#   sim_id*             lme(y ~ x, random = ~ 1 | g)
# all REML (lme's default), default controls. The data come from the CSV that benchmarks/structures.py wrote (the
# rows mixjax fits, in the same order: corAR1() without a covariate reads the row order within groups); the grouping
# columns and Sex, Diet become factors. The first fit in this process is "first_s"; then up to REPEATS more fits,
# stopping once BUDGET_S seconds are spent (at least one when REPEATS > 0), give warm_s (their median). Prints one
# line "@@BENCH_RESULT@@ {json}" with first_s, warm_s, n_warm, loglik, the correlation and variance parameters,
# peak_rss_mb (VmHWM of this process) and the fits' warnings, or error.
args <- commandArgs(trailingOnly = TRUE)
mark <- "@@BENCH_RESULT@@ "
json_str <- function(x) paste0('"', gsub('([\\\\"])', "\\\\\\1", gsub("[\r\n\t]", " ", x)), '"')
json_num <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) "null" else sprintf("%.17g", x)
json_named <- function(x) {
  if (is.null(x) || length(x) == 0) return("null")
  paste0("{", paste(sprintf("%s: %s", sapply(names(x), json_str), sapply(unname(x), json_num)), collapse = ", "), "}")
}
emit <- function(fields) {
  fields <- fields[!vapply(fields, is.null, logical(1))]
  cat(mark, "{", paste(sprintf('"%s": %s', names(fields), unlist(fields)), collapse = ", "), "}\n", sep = "")
  quit(save = "no")
}
peak_rss_mb <- function() {
  s <- tryCatch(readLines("/proc/self/status"), error = function(e) character())
  line <- grep("^VmHWM:", s, value = TRUE)
  if (!length(line)) return(NULL)
  as.numeric(gsub("[^0-9]", "", line)) / 1024
}
if (length(args) < 4) stop("usage: Rscript structures.R CSV CASE REPEATS BUDGET_S")
csv <- args[1]; case <- args[2]; repeats <- as.integer(args[3]); budget <- as.numeric(args[4])
if (!requireNamespace("nlme", quietly = TRUE)) emit(list(skipped = json_str("R package nlme not installed")))
suppressPackageStartupMessages(library(nlme))
d <- read.csv(csv)
for (f in intersect(c("Mare", "Subject", "Sex", "Rat", "Diet", "g"), names(d))) d[[f]] <- factor(d[[f]], levels = unique(d[[f]]))

fit <- switch(sub("_sub[0-9]+$", "", case),
  ovary_ar1 = function() lme(follicles ~ sin(2 * pi * Time) + cos(2 * pi * Time), data = d, random = ~ 1 | Mare,
                             correlation = corAR1()),
  orthodont_varident = function() lme(distance ~ age + Sex, data = d, random = ~ 1 | Subject,
                                      weights = varIdent(form = ~ 1 | Sex)),
  bodyweight_car1 = function() lme(weight ~ Time * Diet, data = d, random = ~ Time | Rat,
                                   correlation = corCAR1(form = ~ Time | Rat)),
  sim_ar1 = function() lme(y ~ x, data = d, random = ~ 1 | g, correlation = corAR1(form = ~ t | g)),
  sim_id = function() lme(y ~ x, data = d, random = ~ 1 | g),
  emit(list(skipped = json_str(paste("no case", case))))
)
caught <- character()
now <- function() proc.time()[["elapsed"]]
run_once <- function() {
  t0 <- now()
  m <- tryCatch(withCallingHandlers(fit(), warning = function(w) {
    caught <<- unique(c(caught, substr(conditionMessage(w), 1, 200)))
    invokeRestart("muffleWarning")
  }), error = function(e) structure(list(msg = conditionMessage(e)), class = "failed"))
  list(s = now() - t0, m = m)
}
first <- run_once()
if (inherits(first$m, "failed")) {
  emit(list(failed_after_s = json_num(first$s), error = json_str(substr(first$m$msg, 1, 500)),
            peak_rss_mb = json_num(peak_rss_mb())))
}
warm <- numeric()
start <- now()
while (length(warm) < repeats && (length(warm) == 0 || now() - start < budget)) warm <- c(warm, run_once()$s)
m <- first$m
ms <- m$modelStruct
cor <- if (!is.null(ms$corStruct)) coef(ms$corStruct, unconstrained = FALSE)
var <- if (!is.null(ms$varStruct)) coef(ms$varStruct, unconstrained = FALSE)
emit(list(
  first_s = json_num(first$s),
  warm_s = json_num(if (length(warm)) median(warm)),
  warm_all_s = paste0("[", paste(sprintf("%.6g", warm), collapse = ", "), "]"),
  n_warm = json_num(length(warm)),
  loglik = json_num(as.numeric(logLik(m))),
  sigma = json_num(m$sigma),
  fixef = json_named(fixef(m)),
  correlation = if (!is.null(cor)) json_named(cor),
  variance = if (!is.null(var)) json_named(var),
  nobs = json_num(nrow(d)),
  nlme = json_str(as.character(packageVersion("nlme"))),
  peak_rss_mb = json_num(peak_rss_mb()),
  warnings = if (length(caught)) json_str(paste(caught, collapse = " | "))
))
