"""Writes logreg_*.txt: synthetic embedding sets and scikit-learn's logistic-regression
solution on them, the expected values of tests/test_logreg.c.

Run from this folder:  python3 make_logreg_fixtures.py   (numpy, scikit-learn)

Problem (see host/cli/logreg.h): minimize C * sum_i CE(softmax(W x_i + b), y_i) + 1/2 ||W||^2,
intercept unpenalized; the reported intercept is centred (sum_k b_k = 0). For K >= 3 that is
LogisticRegression(C=C, solver="lbfgs") (multinomial). scikit-learn fits K = 2 as a binomial
model, whose coef_ v and intercept c at C' = 2C give the multinomial solution
W = [-v/2, v/2], b = [-c/2, c/2]; the file states the multinomial form.

Each file:  line "K d n C", then n lines "y x_1 .. x_d" (float32 values written exactly),
then K lines of W, one line of b, one line "loss L" (L in the convention above).
"""
import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression


def ce_loss(X, y, W, b, C):
    Z = X @ W.T + b
    m = Z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))[:, 0]
    return C * (lse - Z[np.arange(len(y)), y]).sum() + 0.5 * (W * W).sum()


def fit(X, y, K, C):
    if K == 2:
        m = LogisticRegression(C=2 * C, solver="lbfgs", tol=1e-12, max_iter=100000).fit(X, y)
        v, c = m.coef_[0], m.intercept_[0]
        return np.stack([-v / 2, v / 2]), np.array([-c / 2, c / 2])
    m = LogisticRegression(C=C, solver="lbfgs", tol=1e-12, max_iter=100000).fit(X, y)
    return m.coef_, m.intercept_ - m.intercept_.mean()


def write(name, X, y, K, C, note):
    X = X.astype(np.float32).astype(np.float64)
    W, b = fit(X, y, K, C)
    n, d = X.shape
    with open(name, "w") as f:
        f.write(f"{K} {d} {n} {C!r}\n")
        for i in range(n):
            f.write(str(int(y[i])) + " " + " ".join(repr(float(np.float32(v))) for v in X[i]) + "\n")
        for k in range(K):
            f.write(" ".join(f"{v:.17g}" for v in W[k]) + "\n")
        f.write(" ".join(f"{v:.17g}" for v in b) + "\n")
        f.write(f"loss {ce_loss(X, y, W, b, C):.17g}\n")
    # the optimality residual of the stored solution (gradient of L / (C n))
    Z = X @ W.T + b
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    P[np.arange(n), y] -= 1
    gW, gb = (P.T @ X + W / C) / n, P.sum(axis=0) / n
    print(name, note, "loss", ce_loss(X, y, W, b, C), "max |grad|", max(abs(gW).max(), abs(gb).max()))


rng = np.random.default_rng(20240607)


def unit(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# overlapping Gaussian blobs: not separable
K, d, n = 3, 5, 60
centres = rng.normal(size=(K, d))
y = np.arange(n) % K
X = centres[y] * 0.8 + rng.normal(size=(n, d))
write("logreg_overlap.txt", X, y, K, 1.0, "3 classes, overlapping")

# far-apart blobs: linearly separable, only the L2 term keeps W finite
K, d, n = 4, 6, 40
centres = rng.normal(size=(K, d)) * 4
y = np.arange(n) % K
X = centres[y] + rng.normal(size=(n, d)) * 0.3
write("logreg_separable.txt", X, y, K, 10.0, "4 classes, separable")

# L2-normalized "embeddings" around class directions, as CLIP image embeddings are
K, d, n = 5, 16, 75
dirs = unit(rng.normal(size=(K, d)))
y = np.arange(n) % K
X = unit(dirs[y] + rng.normal(size=(n, d)) * 0.35)
write("logreg_embeddings.txt", X, y, K, 100.0, "5 classes, unit vectors")

# two classes (multinomial form of scikit-learn's binomial fit), non-separable, unbalanced
K, d, n = 2, 3, 37
y = (rng.random(n) < 0.35).astype(int)
X = rng.normal(size=(n, d)) + y[:, None] * np.array([1.0, -0.5, 0.25])
write("logreg_binary.txt", X, y, K, 0.5, "2 classes")
print("scikit-learn", sklearn.__version__, "numpy", np.__version__)
