# Cluster-robust (sandwich) covariance references: clubSandwich's vcovCR and coef_test on lme4 REML fits.
# Run from the repository root: Rscript tests/reference/make_robust.R  (writes tests/reference/extra_robust.json)
# Per model: the fit (fixef, sigma, theta, model-based vcov), the cluster (clubSandwich's default, the grouping
# factor with the fewest levels) and its number of levels, vcovCR for CR0, CR1, CR1p, CR1S, CR2 and CR3 (each as
# `names` and row-wise `matrix`), and coef_test tables: CR2 with test = "Satterthwaite", CR1 with test = "naive-t",
# CR0 with test = "Satterthwaite" (columns as clubSandwich names them: beta, SE, tstat, df_*, p_*).
# sleepstudy and Machines are balanced (every cluster has the same X_j), so there CR2 equals CR1 and the
# Satterthwaite df are J - 1; `machines_unbalanced` (Machines without rows 1, 8, ..., 50) and Exam are not.
suppressMessages({library(lme4); library(clubSandwich); library(jsonlite)})
columns <- fromJSON("mixjax/datasets/data/columns.json")
dat <- function(name) {  # factors with R's level order (ordered where R has them ordered), as columns.json gives it
  d <- read.csv(file.path("mixjax/datasets/data", paste0(name, ".csv")))
  meta <- columns[[name]]
  for (f in meta$factors) d[[f]] <- factor(d[[f]], levels = meta$levels[[f]], ordered = f %in% meta$ordered)
  d
}
as_matrix <- function(v) {
  v <- as.matrix(unclass(v)[seq_len(nrow(v)), seq_len(ncol(v))])
  list(names = rownames(v), matrix = lapply(seq_len(nrow(v)), function(i) unname(v[i, ])))
}
as_table <- function(tab) {
  tab <- as.data.frame(unclass(tab))
  cols <- setdiff(names(tab), "Coef")
  c(list(coef = as.character(tab$Coef)), lapply(setNames(cols, cols), function(col) unname(tab[[col]])))
}

models <- list(
  list(id = "sleepstudy", dataset = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)"),
  list(id = "machines", dataset = "Machines", formula = "score ~ Machine + (1 | Worker/Machine)"),
  list(id = "machines_unbalanced", dataset = "Machines", formula = "score ~ Machine + (1 | Worker/Machine)",
       drop_rows = seq(1, 54, by = 7)),
  list(id = "exam", dataset = "Exam", formula = "normexam ~ standLRT + sex + (standLRT | school)"))

out <- list()
for (spec in models) {
  d <- dat(spec$dataset)
  if (!is.null(spec$drop_rows)) d <- d[-spec$drop_rows, ]
  m <- lmer(as.formula(spec$formula), data = d, REML = TRUE)
  types <- c("CR0", "CR1", "CR1p", "CR1S", "CR2", "CR3")
  cr <- lapply(setNames(types, types), function(type) vcovCR(m, type = type))
  cluster <- attr(cr$CR2, "cluster")
  group_n <- getME(m, "l_i")
  out[[spec$id]] <- list(
    dataset = spec$dataset, formula = spec$formula, method = "REML",
    drop_rows = if (is.null(spec$drop_rows)) NULL else spec$drop_rows, nobs = nobs(m),
    cluster = names(getME(m, "flist"))[which.min(group_n)], n_clusters = nlevels(cluster),
    fixef = as.list(fixef(m)), sigma = sigma(m), theta = as.list(getME(m, "theta")),
    vcov = as_matrix(as.matrix(vcov(m))),
    vcovCR = lapply(cr, as_matrix),
    coef_test = list(
      CR2_Satterthwaite = as_table(coef_test(m, vcov = "CR2", test = "Satterthwaite")),
      CR1_naive_t = as_table(coef_test(m, vcov = "CR1", test = "naive-t")),
      CR0_Satterthwaite = as_table(coef_test(m, vcov = "CR0", test = "Satterthwaite"))))
}

res <- list(
  id = "extra_robust", kind = "robust", engine = paste("lme4", packageVersion("lme4")),
  clubSandwich = as.character(packageVersion("clubSandwich")),
  calls = list(vcovCR = 'vcovCR(m, type = type)  # type in CR0, CR1, CR1p, CR1S, CR2, CR3; default cluster',
               coef_test = c('coef_test(m, vcov = "CR2", test = "Satterthwaite")',
                             'coef_test(m, vcov = "CR1", test = "naive-t")',
                             'coef_test(m, vcov = "CR0", test = "Satterthwaite")')),
  models = out, r_version = R.version.string)
write_json(res, "tests/reference/extra_robust.json", auto_unbox = TRUE, digits = NA, null = "null", na = "null",
           pretty = TRUE)
